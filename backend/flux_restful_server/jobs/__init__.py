"""Jobs: REST views, submit parsing and validation, job-info shaping, job ids."""
