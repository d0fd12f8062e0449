#!/usr/bin/python3
"""Chat-template reference: conversations rendered by the Jinja chat
templates the model families ship in their tokenizer_config.json files
(transcribed below), with Debian's python3-jinja2, as transformers'
apply_chat_template renders them (trim_blocks, lstrip_blocks).

Prints one JSON object: {"cases": [{"template": ft's name, "messages":
[...], "text": the rendering, normalised as noted}]}. The normalisations are
the documented differences between a Jinja rendering and what ft trains on:
  chatml   Qwen2's template ends every turn with "<|im_end|>\\n"; ft's example
           ends at the last "<|im_end|>" (the stop token), so the final "\\n"
           is dropped. Every case gives a system turn (Qwen2 would insert
           "You are a helpful assistant.", LLaMA-Factory's chatml does not).
  llama3   none (bos_token is "<|begin_of_text|>", as ft's tokenizer adds it).
  llama2   the template writes " " + answer + " " + eos; ft (as LLaMA-Factory)
           writes answer + eos and lets SentencePiece's prefix space, put in
           front of every separately tokenized part, stand for the first
           space, so " [/INST] " becomes " [/INST]" and " </s>" becomes
           "</s>" here.
Nothing here reads a file ft wrote.
"""

import json

import jinja2

# Qwen/Qwen2-0.5B-Instruct, tokenizer_config.json "chat_template".
QWEN2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# meta-llama/Meta-Llama-3-8B-Instruct, tokenizer_config.json "chat_template".
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)

# meta-llama/Llama-2-7b-chat-hf, tokenizer_config.json "chat_template".
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)

FAMILIES = {
    "chatml": (QWEN2, "", "<|im_end|>"),
    "llama3": (LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
    "llama2": (LLAMA2, "<s>", "</s>"),
}

CONVERSATIONS = [
    [{"role": "system", "content": "You answer in one word."},
     {"role": "user", "content": "Capital of France?"},
     {"role": "assistant", "content": "Paris."}],
    [{"role": "system", "content": "Be kind."},
     {"role": "user", "content": "Hi there"},
     {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke.\nA short one."},
     {"role": "assistant", "content": "Why did the chicken cross the road?"},
     {"role": "user", "content": "Why?"},
     {"role": "assistant", "content": "To get to the other side."}],
    [{"role": "user", "content": "2 + 2 = ?"},
     {"role": "assistant", "content": "4"},
     {"role": "user", "content": "and 3 + 3?"},
     {"role": "assistant", "content": "6"}],
]


def raise_exception(msg):
    raise ValueError(msg)


def main():
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    cases = []
    for name, (src, bos, eos) in FAMILIES.items():
        tpl = env.from_string(src)
        for conv in CONVERSATIONS:
            if name == "chatml" and conv[0]["role"] != "system":
                continue
            text = tpl.render(messages=conv, bos_token=bos, eos_token="</s>",
                              add_generation_prompt=False)
            if name == "chatml":
                assert text.endswith("<|im_end|>\n")
                text = text[:-1]
            if name == "llama2":
                text = text.replace(" [/INST] ", " [/INST]").replace(" </s>", "</s>")
            cases.append({"template": name, "messages": conv, "text": text, "bos": bos,
                          "eos": "</s>" if name == "llama2" else ""})
    print(json.dumps({"cases": cases}))


if __name__ == "__main__":
    main()
