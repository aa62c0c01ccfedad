"""School intake: intake tasks for newcomers' children (school, reception class, daycare, youth guidance)."""
