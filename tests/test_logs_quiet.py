"""The operator's log shows the bot's lines, not its libraries' greetings."""
import io
import logging

from bot import logs


def test_huey_startup_chatter_stays_out_of_the_log(tmp_path):
    from huey import SqliteHuey
    from huey.consumer import Consumer

    stream = io.StringIO()
    handler = logs.setup(level="INFO", stream=stream)
    try:
        h = SqliteHuey("quiet", filename=str(tmp_path / "q.db"))

        @h.task()
        def hello():  # a registered task is what huey lists at startup
            return 1

        consumer = Consumer(h, workers=1, periodic=False)
        consumer.start()
        consumer.stop(graceful=True)
        logging.getLogger("bot.test").info("the bot's own line")
        logging.getLogger("huey.consumer").warning("a huey problem")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "the bot's own line" in text and "a huey problem" in text
    assert "following commands" not in text and "hello" not in text
