extensions = ["pincite"]
# pincite_pins, pincite_lock, pincite_cache_dir and pincite_index_url come from the test.
