// Stream translation pieces more than one route adapter uses.

/** The client sees the model id it asked for, not the route's id. */
export function modelSwapper(clientModel: string): (event: string, data: string) => string {
  return (event, data) => {
    if (event !== 'message_start') return data;
    try {
      const j = JSON.parse(data) as { message?: { model?: string } };
      if (j.message) j.message.model = clientModel;
      return JSON.stringify(j);
    } catch {
      return data;
    }
  };
}
