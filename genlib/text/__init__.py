"""Text models: tokenizers (char, BPE), n-grams, attention, a GPT, decoding (built up notebook by notebook)."""
