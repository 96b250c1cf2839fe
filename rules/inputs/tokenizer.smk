# Input functions and names of the rules in rules/tokenizer.smk.
from babeltower.tokenizer import tokenizer_params


def tokenizer_training_params():
    # What the tokenizer depends on: batch_bytes only affects how tokenization is batched, so
    # leaving it out keeps a batching change from retraining the tokenizer; M_P's tokenizer
    # (runs.primary.from) is its files' digest (babeltower.tokenizer.tokenizer_params).
    return tokenizer_params(config)
