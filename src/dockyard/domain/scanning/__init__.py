"""Image scanning's pure model: package inventories, advisories' findings and scan states."""
