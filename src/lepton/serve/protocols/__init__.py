"""Protocol routers: Open Inference Protocol v2, simple JSON, OpenAI embeddings."""
