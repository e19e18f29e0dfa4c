"""Showing results: Displays, the HTML report, the results file and the verdicts.

:mod:`.displays` holds the scikit-learn-style plots, :mod:`.report` the HTML
report (Jinja2 template in ``templates/``), :mod:`.results_io` the one JSON
schema of a result, and :mod:`.verdicts` the one wording of the checks'
pass or fail. Nothing is imported here: matplotlib and Jinja2 load on use.
"""
