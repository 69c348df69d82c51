"""What a config asks for, known while Snakemake parses and without torch: the schema and its
checks, the model grid and its names, each job's parameters, the training methods' facts, the
code each rule depends on."""
