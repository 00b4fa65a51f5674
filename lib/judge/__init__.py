"""Judge: contenders, evaluation runs, answer checks, statistics, the scorecard and its reports."""
