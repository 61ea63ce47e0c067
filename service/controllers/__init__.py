"""HTTP controllers: parse, dispatch to a command or query handler, shape the response."""
