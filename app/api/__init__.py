"""HTTP at the edge: routers, authentication, problem answers. Thin over the engine."""
