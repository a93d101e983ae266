"""What every stage and tool imports: params schema, record types, JSONL I/O, errors, the
stage entry point. Every stage in dvc.yaml depends on this folder; nothing here loads a
model or a scorer."""
