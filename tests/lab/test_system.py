import pytest
from support import needs


@pytest.mark.parametrize("tool", ["chromium", "nginx", "redis-server"])
def test_the_system_parts_the_lessons_drive_are_installed(tool):
    assert needs(tool)
