import { SendSlots } from './send-slots.js';

describe('SendSlots', () => {
  it('grants up to what is asked, never more than its size in all', async () => {
    const slots = new SendSlots(4);
    expect(await slots.take(3)).toBe(3);
    expect(await slots.take(3)).toBe(1); // only one left: granted one, not three
    expect(slots.free).toBe(0);
    let granted = 0;
    void slots.take(2).then((count) => (granted = count));
    await Promise.resolve();
    expect(granted).toBe(0); // waits: none free
    slots.give(1);
    await Promise.resolve();
    expect(granted).toBe(1);
    expect(slots.free).toBe(0);
  });

  it('serves waiters first come, first served: a caller arriving later queues behind them', async () => {
    const slots = new SendSlots(2);
    await slots.take(2);
    const order: string[] = [];
    const first = slots.take(2).then((count) => order.push(`first:${count}`));
    const second = slots.take(1).then((count) => order.push(`second:${count}`));
    slots.give(1);
    await first;
    // A slot freed while `second` waits does not go to a newcomer.
    const third = slots.take(1).then((count) => order.push(`third:${count}`));
    slots.give(1);
    await second;
    slots.give(1);
    await third;
    expect(order).toEqual(['first:1', 'second:1', 'third:1']);
  });

  it('refuses to take nothing', () => {
    expect(() => new SendSlots(1).take(0)).toThrow(/at least one/);
  });
});
