"""Does the corpus make a model more empathetic? Fine-tune a base model on it and measure (downstream/dvc.yaml)."""
