from aiogram.fsm.state import State, StatesGroup


class Profile(StatesGroup):
    name = State()
    home_location = State()


class Report(StatesGroup):
    """A problem report on its way to becoming a work order."""

    choosing_asset = State()
    typing_asset = State()
    duplicate_check = State()
    confirming = State()
    editing_title = State()
    describing = State()  # a photo or an asset card came first; waiting for the words


class WorkUpdate(StatesGroup):
    hold_reason = State()
    completion_note = State()
    note = State()


class PrintChat(StatesGroup):
    """Chat with Print: the open print's id is in the state data as `print_id`."""

    waiting_file = State()  # /print came without a file
    active = State()  # questions go to the open print
    typing_asset = State()  # naming the equipment the print belongs to
