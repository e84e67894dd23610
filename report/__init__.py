"""Reports (report.md, report.html), the lesson illustrations and the regression gate (stage 4)."""
