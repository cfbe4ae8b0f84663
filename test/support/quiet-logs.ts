// Tests read what the service does through its API; its logs would only bury jest's output.
process.env.TALLY_LOG_LEVEL ??= 'error';
