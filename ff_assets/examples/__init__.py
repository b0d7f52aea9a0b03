"""The two example stores: review sentences (text) and bank marketing calls (tabular)."""
