"""EPITOME empathy scores: the LLM judge, the trained classifier judge, EPITOME's human-labelled
data, and the agreement between judges and humans (calibration)."""
