"""Text data: the storyworld corpus, tokenizers and sequence packing."""
