# Input functions and names of the rules in rules/tokenizer.smk.
def tokenizer_training_params():
    # batch_bytes only affects how tokenization is batched, not the tokenizer: leaving it out
    # keeps a batching change from retraining the tokenizer.
    return {k: v for k, v in config["tokenizer"].items() if k != "batch_bytes"}
