"""ESC, the environments language: `syntax` reads a definition (YAML with source ranges) and
seals or unseals its `fn::secret` values; `evaluate` turns a definition and its imports into the
opened environment (values with secret flags and where each was defined), with diagnostics for
what is wrong. Pure Python, written from Pulumi's language definition (pulumi/esc `eval/`): no
database, no HTTP; the caller hands in how to load an import and how to decrypt a ciphertext."""
