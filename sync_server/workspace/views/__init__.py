"""One module per workspace page; each adds its routes to the router it is given."""
