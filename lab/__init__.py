"""The instruments the notebooks observe with: clients, meters, plots, the browser, checks."""
