"""Price: counting tokens as OpenAI does, models and their prices, epochs, training cost, few-shot break-even (pure)."""
