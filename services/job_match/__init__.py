"""Job match: ranked, explained job leads for accompanying spouses, for Jobcenter advisers."""
