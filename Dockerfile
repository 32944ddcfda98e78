# Lucid Dream Bot. CPU by default; for CUDA:
#   docker build --build-arg TORCH_SPEC=torch==2.13.0 --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 .
# Run: docker run -v $PWD/config:/config -v dream-data:/data -e MASTODON_ACCESS_TOKEN=... lucid-dream-bot
# (the config's data_dir should be /data; secrets come only from the environment).
FROM python:3.11-slim

ARG TORCH_SPEC=torch==2.13.0+cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

RUN useradd --create-home --uid 1000 dreamer
WORKDIR /app
# Installed exactly as .ci/run and the README install: the same setup.sh over the same files.
COPY pyproject.toml setup.sh README.md run_bot.py ./
COPY bot ./bot
COPY dreamer ./dreamer
COPY models ./models
COPY config ./config
COPY photos ./photos
RUN TORCH_SPEC="$TORCH_SPEC" TORCH_INDEX="$TORCH_INDEX" EXTRAS="redis,tumblr" VENV=/opt/venv ./setup.sh \
    && rm -rf /root/.cache/pip \
    && mkdir -p /data /config && chown dreamer /data

USER dreamer
ENV PATH=/opt/venv/bin:$PATH \
    LUCID_BOT_CONFIG=/config/bot.toml \
    PYTHONUNBUFFERED=1
VOLUME ["/data", "/config"]
# The bot is healthy when its config still validates and its store answers.
HEALTHCHECK --interval=5m --timeout=30s --start-period=2m CMD ["python", "run_bot.py", "status"]
CMD ["python", "run_bot.py"]
