// Excerpts of sdk.d.ts from @anthropic-ai/claude-agent-sdk 0.3.337 (npm), kept as test data:
// the settings type of a command hook, and the PreToolUse / PreSkillShellCommand hook output.
// --- Settings.hooks (lines 8125-8200) ---
    }[];
    /**
     * Custom commands to run before/after tool executions
     */
    hooks?: {
        [k: string]: {
            /**
             * String pattern to match (e.g. tool names like "Write")
             */
            matcher?: string;
            /**
             * List of hooks to execute when the matcher matches
             */
            hooks: ({
                /**
                 * Shell command hook type
                 */
                type: 'command';
                /**
                 * Shell command to execute
                 */
                command: string;
                /**
                 * Argument list for exec form. When present, `command` is resolved as an executable and spawned directly with these arguments — no shell. Path placeholders like ${CLAUDE_PLUGIN_ROOT} are substituted per-element as plain strings, so paths with quotes, $, or backticks never reach a shell parser. When absent, `command` runs through a shell (bash on POSIX, PowerShell on Windows without Git Bash).
                 */
                args?: string[];
                /**
                 * Permission rule syntax to filter when this hook runs (e.g., "Bash(git *)"). Only runs if the tool call matches the pattern. Avoids spawning hooks for non-matching commands.
                 */
                if?: string;
                /**
                 * Shell interpreter. 'bash' uses your $SHELL (bash/zsh/sh); 'powershell' uses pwsh. Defaults to bash (powershell on Windows without Git Bash).
                 */
                shell?: 'bash' | 'powershell';
                /**
                 * Timeout in seconds for this specific command
                 */
                timeout?: number;
                /**
                 * What a failure of this hook does: it could not start (a missing script or plugin directory), timed out, exited with a code other than 0 or 2, or printed JSON that is invalid or fails validation. 'continue' (default): the failure is reported and the action goes ahead. 'block': the failure counts as exit code 2, so the action the event guards (a tool call, a permission request, a prompt) is blocked. Ignored for async hooks and on Stop, SubagentStop, TaskCompleted and TeammateIdle.
                 */
                onFailure?: 'continue' | 'block';
                /**
                 * Custom status message to display in spinner while hook runs
                 */
                statusMessage?: string;
                /**
                 * If true, hook runs once and is removed after execution
                 */
                once?: boolean;
                /**
                 * If true, hook runs in background without blocking
                 */
                async?: boolean;
                /**
                 * If true, hook runs in background and wakes the model on exit code 2 (blocking error). Implies async.
                 */
                asyncRewake?: boolean;




            } | {
                /**
                 * LLM prompt hook type
                 */
                type: 'prompt';
                /**
                 * Prompt to evaluate with LLM. Use $ARGUMENTS placeholder for hook input JSON.
                 */
                prompt: string;
                /**
                 * Permission rule syntax to filter when this hook runs (e.g., "Bash(git *)"). Only runs if the tool call matches the pattern. Avoids spawning hooks for non-matching commands.
                 */
                if?: string;
                /**

// --- hook inputs and outputs (lines 2990-3046) ---
export declare type PreSkillShellCommandHookInput = BaseHookInput & {
    hook_event_name: 'PreSkillShellCommand';
    /**
     * The shell tool that runs the command: Bash or PowerShell
     */
    tool_name: string;
    tool_input: {
        /**
         * The command as it would run, with arguments filled in
         */
        command: string;
    };
    /**
     * Identifies this command. It names no tool call in the transcript.
     */
    tool_use_id: string;
    /**
     * The skill or command whose text holds the shell command
     */
    command_name: string;
    command_source?: string;
    /**
     * Who started the load. user: typed, or sent by an SDK host. claude: the Skill tool, or a turn that Claude scheduled. other: anything else, such as a subagent's preload or a channel message, or not known.
     */
    invoked_by: 'user' | 'claude' | 'other';
};

export declare type PreSkillShellCommandHookSpecificOutput = {
    hookEventName: 'PreSkillShellCommand';
    /**
     * allow adds nothing: the command runs unless a hook refuses it. deny, ask and defer all keep it from running.
     */
    permissionDecision?: HookPermissionDecision;
    permissionDecisionReason?: string;
    /**
     * Never applied. Any value keeps the command from running.
     */
    updatedInput?: Record<string, unknown>;
};

export declare type PreToolUseHookInput = BaseHookInput & {
    hook_event_name: 'PreToolUse';
    tool_name: string;
    tool_input: unknown;
    tool_use_id: string;
    mcp_server?: McpServerProvenance;
};

export declare type PreToolUseHookSpecificOutput = {
    hookEventName: 'PreToolUse';
    permissionDecision?: HookPermissionDecision;
    permissionDecisionReason?: string;
    updatedInput?: Record<string, unknown>;
    additionalContext?: string;


};
