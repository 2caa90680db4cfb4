"""Model families, one package each. Importing a family's package registers it in `cola_core.registry`,
which lists the built-in ones and imports each on its first lookup."""
