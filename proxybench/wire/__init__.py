"""The cloud-device wire: messages and the ledger, the device handle, device programs and the runtime that runs them."""
