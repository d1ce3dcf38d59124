"""Reports and figures: the Markdown/HTML verdict report (:mod:`markdown`) and the plotting
functions shared by the report and the notebooks (:mod:`plots`)."""
