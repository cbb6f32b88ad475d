"""Human studies: design (sets, pairs, assignments), statistics, figures, reports."""
