"""LLM backends behind one interface; `make_backend` picks one from params."""

from synthempathy.core.params import LLMParams
from synthempathy.generation.llm.base import Backend, Completion


def make_backend(params: LLMParams) -> Backend:
    """Build the configured backend; it loads its model lazily, on the first call."""
    if params.backend == "llama_cpp" and params.batch_size > 1:
        from synthempathy.generation.llm.llama_cpp_batched import BatchedLlamaCppBackend

        return BatchedLlamaCppBackend(params)
    if params.backend == "llama_cpp":
        from synthempathy.generation.llm.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(params)
    if params.backend == "openai":
        from synthempathy.generation.llm.openai_server import OpenAIServerBackend

        return OpenAIServerBackend(params)
    raise AssertionError(f"unhandled backend {params.backend}")  # params validation forbids this


def model_markers(params: LLMParams) -> tuple[str, ...]:
    """The generating model's own markers, read from its GGUF without loading the weights (a
    server's model is not known here: none)."""
    backend = make_backend(params)
    try:
        return backend.chat_markers
    finally:
        backend.close()


__all__ = ["Backend", "Completion", "make_backend", "model_markers"]
