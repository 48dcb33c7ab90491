"""lab.progress: outside a notebook, each step is a line."""

from lab.progress import progress_bar


def test_each_step_prints_a_bar_filled_in_proportion(capsys):
    progress = progress_bar(width=10)
    progress(0, 4, "first")
    progress(2, 4, "third")
    progress(4, 4, "done")
    assert capsys.readouterr().out.splitlines() == [
        "[..........] 0/4 first",
        "[#####.....] 2/4 third",
        "[##########] 4/4 done",
    ]
