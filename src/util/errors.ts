// Errors meant for the person at the terminal: the CLI prints their message alone (no stack)
// and exits with status 2. Kept in a module of its own so the CLI's entry point can recognise
// them without loading the modules that throw them.
export class UserError extends Error {}
