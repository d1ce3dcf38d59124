"""The two command lines, ``dsbench`` (:mod:`main`) and ``ds-profiler`` (:mod:`profiler`), and
the command modules they group. Thin: parse options, call a library function, write records."""
