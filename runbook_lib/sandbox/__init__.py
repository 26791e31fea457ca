"""The local sandbox: stand-in AgentOps services, trace store and process helpers."""
