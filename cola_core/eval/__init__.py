"""Evaluation identical for every family: few-shot generative tasks, storyworld quality, likelihoods."""
