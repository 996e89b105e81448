"""Each platform's settings section (`inference-stacks:<section>`), typed models only."""
