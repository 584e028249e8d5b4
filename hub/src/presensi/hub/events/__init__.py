"""Events: apel, upacara, meetings: when, where, who is expected (model), who came (results)."""
