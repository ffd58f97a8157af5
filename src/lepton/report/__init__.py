"""Reports: terminal tables (Rich), JSON, and the self-contained HTML report."""
