"""The core every other part of dsbench stands on: the record schema and results store
(:mod:`results`), the one timer (:mod:`timing`), the machine fingerprint (:mod:`environment`),
the one user-error path (:mod:`errors`), unit formatting (:mod:`units`) and the progress bar
(:mod:`progress`). Nothing here imports another dsbench subpackage."""
