package cli

// PrintJSON prints v as the commands print their --json output.
var PrintJSON = printJSON
