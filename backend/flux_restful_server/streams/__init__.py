"""Streams: job log streams (websocket, SSE, chunked text) and the job event feed."""
