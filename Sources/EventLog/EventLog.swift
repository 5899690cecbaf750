// EventLog module.
