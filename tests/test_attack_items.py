"""Issue 14's 21 breaks, and the tests that hold each one shut. The table is checked below: every
test it names exists, so it cannot rot when a test is renamed or moved.

| item | break found | held by |
|---|---|---|
| 1 | a create answer nested 100 000 deep: RecursionError, "not-sent", a second task | test_hostile_answers.py::test_an_unreadable_create_answer_is_looked_up_and_adopted |
| 2 | a huge create or status answer: MemoryError, a second task | test_hostile_answers.py::test_a_memory_error_while_reading_the_create_answer_is_ambiguous, test_hostile_answers.py::test_an_answer_over_the_cap_is_not_read_on, test_hostile_answers.py::test_a_huge_or_nested_status_answer_is_a_failed_poll |
| 3 | a 5xx with a DashScope code after the task was made, retried: two tasks | test_faults.py::test_5xx_with_a_dashscope_code_sent_after_the_task_was_created_is_looked_up_not_resent, test_faults.py::test_5xx_with_a_dashscope_code_and_no_task_is_never_resent_blindly, test_faults.py::test_only_429_and_4xx_prove_that_a_create_made_no_task |
| 4 | one bad byte in the journal hid all of it: paid again | test_store_faults.py::test_item_4_bad_lines_in_the_journal_are_skipped_and_the_paid_request_is_not_paid_again, test_store_log.py::test_a_bad_line_is_skipped_with_one_warning_and_every_other_line_counts |
| 5 | a full disk: "submitting anyway", paid, then paid again | test_store_faults.py::test_item_5_an_intent_that_cannot_be_journaled_sends_nothing |
| 6 | a status answer without task_status read as final UNKNOWN | test_hostile_answers.py::test_a_status_answer_without_task_status_is_retried, test_hostile_answers.py::test_status_answers_that_stay_malformed_end_as_malformed_not_final |
| 7 | a line added at the top of a finished batch resubmitted every item | test_store_faults.py::test_item_7_a_line_inserted_at_the_top_of_a_finished_batch_submits_only_that_line, test_store_log.py::test_item_keys_follow_content_not_line_numbers |
| 8 | another client's running task adopted after a lost answer | test_task_decisions.py::test_decide, test_task_decisions.py::test_a_task_is_adopted_only_on_its_own_shown_prompt, test_faults.py::test_the_one_listed_task_with_another_prompt_is_not_adopted |
| 9 | a server task id with `../` deleted an unrelated file | test_store_faults.py::test_item_9_a_task_id_with_dot_dot_cannot_touch_another_file, test_hostile_answers.py::test_a_create_answer_with_an_unusable_task_id_is_looked_up, test_store_log.py::test_the_download_lock_of_any_task_id_stays_in_its_directory |
| 10 | a cut, empty or HTML body saved as the video, exit 0 | test_hostile_answers.py::test_a_download_cut_at_40_percent_without_content_length_is_resumed, test_hostile_answers.py::test_a_download_that_is_not_a_video_is_never_saved, test_hostile_answers.py::test_a_download_cut_every_time_fails_with_the_task_id_and_leaves_nothing |
| 11 | a symlink planted at `.part` written through | test_hostile_answers.py::test_a_symlink_planted_at_the_part_path_is_refused_and_its_target_untouched, test_store_log.py::test_a_claim_never_writes_through_a_planted_part_symlink |
| 12 | a media symlink to a private key uploaded | test_local_media.py::test_a_link_to_a_private_key_is_refused_before_any_request, test_local_media.py::test_an_empty_file_is_caught |
| 13 | server error text in the manifest unredacted | test_store_log.py::test_manifest_lines_are_redacted_and_keep_no_signed_url |
| 14 | signed video URLs in the manifest | test_store_log.py::test_manifest_lines_are_redacted_and_keep_no_signed_url |
| 15 | a key split by a line break or a zero-width space, a prefix, a proxy's Basic credential | test_redaction.py::test_a_key_split_by_a_line_break_or_an_invisible_character_is_masked, test_redaction.py::test_every_piece_of_16_characters_is_masked_and_shorter_ones_stay, test_redaction.py::test_a_proxy_basic_credential_echoed_by_the_server_is_masked_through_the_cli |
| 16 | the upload policy's signature and AccessKeyId printed | test_redaction.py::test_the_upload_policy_values_quoted_by_oss_are_masked |
| 17 | one byte every 2 s held the tool past --timeout | test_hostile_answers.py::test_a_status_answer_dripped_one_byte_at_a_time_is_cut_by_the_budget, test_hostile_answers.py::test_a_create_answer_dripped_one_byte_at_a_time_is_looked_up |
| 18 | a journal symlinked to a SKILL.md got records | test_store_faults.py::test_item_11_18_a_journal_symlinked_to_a_skill_file_gets_no_records, test_store_log.py::test_a_symlinked_log_is_neither_written_nor_read |
| 19 | escape and control characters from the server went raw to the terminal | test_terminal_text.py::test_code_and_message_of_an_error_answer_are_escaped, test_terminal_text.py::test_a_task_status_and_the_journal_listing_are_escaped, test_terminal_text.py::test_an_http_reason_phrase_is_escaped |
| 20 | `--task-id` from the journal's own directory missed it | test_store_faults.py::test_item_20_task_id_from_the_directory_holding_the_journal_finds_it |
| 21 | a lone surrogate in the prompt | test_input_text.py::test_a_lone_surrogate_in_the_prompt_is_one_usage_error |
| 21 | deeply nested `--file` JSON; `--file /dev/zero` | test_input_text.py::test_deeply_nested_json_is_one_usage_error, test_input_text.py::test_dev_zero_and_a_directory_are_refused_at_once |
| 21 | a malformed upload policy | test_hostile_answers.py::test_a_malformed_upload_policy_is_one_clear_error |
| 21 | a journal that is a FIFO | test_store_faults.py::test_item_21_a_journal_that_is_a_fifo_never_blocks |
| 21 | Ctrl-C 30-120 ms after start | test_process_edges.py::test_ctrl_c_while_the_program_starts_is_an_interruption_not_a_traceback |
| 21 | a broken stdout pipe | test_process_edges.py::test_a_closed_stdout_ends_the_run_quietly |
| 21 | a `file://` video URL retried 6 times | test_hostile_answers.py::test_a_file_url_for_the_video_fails_at_once |
| 21 | a 300-character server file name | test_store_faults.py::test_item_21_a_300_character_server_file_name_still_saves |
| 21 | a quoted `.env` value with `# comment`; one Latin-1 byte in `.env` | test_input_text.py::test_a_quoted_key_with_a_comment_is_used_without_its_quotes, test_input_text.py::test_one_latin1_byte_does_not_hide_the_rest_of_the_dotenv |
| 21 | an interrupted download: `_1` name and an orphan response JSON | test_process_edges.py::test_ctrl_c_mid_download_keeps_the_part_and_the_rerun_continues_it_under_the_same_name |
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _table():
    rows = []
    for line in __doc__.splitlines():
        match = re.match(r"^\| (\d+) \| .* \| (test_[^|]+) \|$", line)
        if match:
            rows.append((int(match.group(1)), [ref.strip() for ref in match.group(2).split(",")]))
    return rows


def test_every_item_1_to_21_has_a_row():
    assert sorted({item for item, _ in _table()}) == list(range(1, 22))


def test_every_test_the_table_names_exists():
    defined = {}
    for path in HERE.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined[path.name] = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = []
    for item, refs in _table():
        for ref in refs:
            name, _, function = ref.partition("::")
            if function not in defined.get(name, ()):
                missing.append("item %d: %s" % (item, ref))
    assert not missing, "\n".join(missing)
