"""Running untrusted student code in isolation.

Grader side: `grader.sandbox.runner.run_python` with `grader.sandbox.models.Limits`, returning a
`SandboxResult`. Inside the sandbox: `grader.sandbox.channel.send` for the harness's messages.

This file imports nothing: the harness imports `grader.sandbox.channel` inside the sandbox on
every run, and loading the runner (pydantic, subprocess...) there would only slow each start.
See docs/sandbox.md for the threat model.
"""
