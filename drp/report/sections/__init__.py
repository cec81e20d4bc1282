"""The section builders of the study report, one module per topic."""
